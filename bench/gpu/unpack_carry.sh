# Sourced by the device scripts: unpacks the carried libraries (see prepare_carry.sh) once.
if [[ -f .carry/lib.tar.xz && ! -d .carry/lib ]]; then tar -C .carry -xJf .carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="$PWD/.carry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
