#!/usr/bin/env bash
# Packs built binaries and the shared libraries they need beyond glibc/libstdc++ (the GPU machine has
# no Debian -dev packages) into DEST, a git-ignored folder that a device call names in `carry`.
#   bench/gpu/pack_binaries.sh DEST BINARY...
# On the device: cd DEST && tar -xJf lib.tar.xz && LD_LIBRARY_PATH=$PWD/lib:/usr/local/cuda/lib64 ./BINARY
# DEST must be listed in .git/info/exclude (or .gitignore) or the call would ship it as untracked.
set -euo pipefail
DEST="${1:?destination folder}"; shift
(( $# > 0 )) || { echo "pack_binaries.sh: name at least one binary" >&2; exit 2; }
rm -rf "$DEST" && mkdir -p "$DEST/lib"
for b in "$@"; do
  [[ -x "$b" ]] || { echo "pack_binaries.sh: $b is not an executable" >&2; exit 2; }
  cp "$b" "$DEST/"
  { ldd "$b" | awk '$3 ~ /^\// {print $3}' \
    | grep -vE 'libc\.so|libm\.so|libgcc_s|libstdc\+\+|ld-linux|libpthread|libdl\.so|librt\.so|/usr/local/cuda' \
    | xargs -r -I{} cp -L {} "$DEST/lib/"; } || true  # a binary needing no extra library is fine
done
tar -C "$DEST" -cJf "$DEST/lib.tar.xz" lib && rm -rf "$DEST/lib"
du -sh "$DEST"
