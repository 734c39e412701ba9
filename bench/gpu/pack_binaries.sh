#!/usr/bin/env bash
# Packs built binaries and the shared libraries they need beyond glibc/libstdc++ (the GPU machine has
# no Debian -dev packages) into DEST, a git-ignored folder that a device call names in `carry`.
#   bench/gpu/pack_binaries.sh DEST BINARY...
# The binaries (stripped) travel inside the same xz archive as the libraries: their device code compresses
# about 3x, which keeps a full carry under the 64 MiB limit.
# On the device: cd DEST && tar -xJf lib.tar.xz && LD_LIBRARY_PATH=$PWD/lib:/usr/local/cuda/lib64 ./BINARY
# DEST must be listed in .git/info/exclude (or .gitignore) or the call would ship it as untracked.
set -euo pipefail
DEST="${1:?destination folder}"; shift
(( $# > 0 )) || { echo "pack_binaries.sh: name at least one binary" >&2; exit 2; }
rm -rf "$DEST" && mkdir -p "$DEST/lib"
for b in "$@"; do
  [[ -x "$b" ]] || { echo "pack_binaries.sh: $b is not an executable" >&2; exit 2; }
  cp "$b" "$DEST/" && strip "$DEST/$(basename "$b")"
  { ldd "$b" | awk '$3 ~ /^\// {print $3}' \
    | grep -vE 'libc\.so|libm\.so|libgcc_s|libstdc\+\+|ld-linux|libpthread|libdl\.so|librt\.so|/usr/local/cuda' \
    | xargs -r -I{} cp -L {} "$DEST/lib/"; } || true  # a binary needing no extra library is fine
done
names=(); for b in "$@"; do names+=("$(basename "$b")"); done
tar -C "$DEST" -cf - lib "${names[@]}" | xz -T2 -6 > "$DEST/lib.tar.xz"
rm -rf "$DEST/lib" && (cd "$DEST" && rm -f "${names[@]}")
du -sh "$DEST"
