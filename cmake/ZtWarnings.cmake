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
