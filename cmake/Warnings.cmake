# nanochat_warnings: an interface target every project target links, so flags live in one place.
add_library(nanochat_warnings INTERFACE)
target_compile_options(nanochat_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Woverloaded-virtual -Wimplicit-fallthrough>)
# GCC 12 reports -Wrestrict false positives inside libstdc++'s string concatenation at -O3 (GCC PR105329).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(nanochat_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
endif()
if(NANOCHAT_WERROR)
  target_compile_options(nanochat_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()
if(NANOCHAT_SANITIZE)
  target_compile_options(nanochat_warnings INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-omit-frame-pointer>)
  target_link_options(nanochat_warnings INTERFACE -fsanitize=address,undefined)
endif()
