# One place for the warning set (CONVENTIONS.md appendix B) and the sanitizer switch.
# Every project target links zt_warnings; generated protobuf code links it too, since
# protoc-c 1.4 output for a proto2 file compiles clean with this set.
add_library(zt_warnings INTERFACE)

target_compile_options(zt_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion
  # OpenBSD daemon Makefiles
  -Wstrict-prototypes -Wmissing-prototypes -Wmissing-declarations
  -Wpointer-arith -Wcast-qual -Wsign-compare
  # curl's picky warnings
  -Wcast-align -Wwrite-strings -Wundef -Wformat=2 -Wvla -Wold-style-definition
  -Wredundant-decls -Wnull-dereference -Wdouble-promotion -Wimplicit-fallthrough)

if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  target_compile_options(zt_warnings INTERFACE
    -Wduplicated-cond -Wduplicated-branches -Wlogical-op)
endif()

if(ZT_WERROR)
  target_compile_options(zt_warnings INTERFACE -Werror)
endif()

target_compile_definitions(zt_warnings INTERFACE _POSIX_C_SOURCE=200809L)

# Fortify acts only when optimising.
target_compile_options(zt_warnings INTERFACE
  $<$<CONFIG:Release,RelWithDebInfo>:-D_FORTIFY_SOURCE=2 -fstack-protector-strong>)

if(ZT_SANITIZE)
  target_compile_options(zt_warnings INTERFACE
    -fsanitize=${ZT_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(zt_warnings INTERFACE -fsanitize=${ZT_SANITIZE})
endif()

# Fuzzing (tests/fuzz, `make fuzz`): clang's libFuzzer. Every target is compiled with
# coverage instrumentation, so that the fuzzer sees inside the libraries it drives, not just
# the fuzz target's own file; the fuzz binaries then link libFuzzer's main.
option(ZT_FUZZ "Build the libFuzzer targets (clang only)" OFF)
if(ZT_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "ZT_FUZZ needs clang (configure with CC=clang)")
  endif()
  target_compile_options(zt_warnings INTERFACE -fsanitize=fuzzer-no-link)
  target_link_options(zt_warnings INTERFACE -fsanitize=fuzzer-no-link)
endif()
