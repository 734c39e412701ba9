# Every dependency is a Debian package (scripts/setup.sh installs them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(LZ4 REQUIRED IMPORTED_TARGET liblz4)
find_package(ZLIB REQUIRED)
find_package(Snappy REQUIRED)
if(NANOCHAT_TESTS)
  find_package(GTest REQUIRED)
endif()
if(NANOCHAT_BENCH)
  find_package(benchmark REQUIRED)
endif()
find_package(absl REQUIRED)           # flat_hash_map for the tokenizer's hot tables
find_package(BLAS REQUIRED)           # OpenBLAS (libopenblas-dev) for CPU GEMMs
find_package(CURL REQUIRED)           # dataset downloads
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)  # server (and loopback test servers)
