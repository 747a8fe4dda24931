# Build-time settings that change how fast the trees build, never what they test
# (docs/architecture.md, "Testing", has the measured effect of each).
#
# KMB_DEBUG_INFO=OFF compiles without debug info (-g0): about a third less compile time and far
# smaller objects to link. scripts/test.sh sets it for its suite tree; scripts/build.sh keeps
# the default (RelWithDebInfo, with debug info).
# KMB_LINKER (default lld when the compiler driver accepts -fuse-ld=lld; Debian package lld):
# the ~20 test executables each link the same large static libraries, which ld.lld does about
# twice as fast as ld.bfd. KMB_LINKER=default keeps the compiler's linker.

option(KMB_DEBUG_INFO "Compile with debug info as the build type says (OFF: -g0)" ON)
if(NOT KMB_DEBUG_INFO)
  add_compile_options(-g0)
endif()

include(CheckLinkerFlag)
check_linker_flag(CXX -fuse-ld=lld KMB_HAVE_LLD)
if(KMB_HAVE_LLD)
  set(kmb_default_linker lld)
else()
  set(kmb_default_linker default)
endif()
set(KMB_LINKER ${kmb_default_linker} CACHE STRING "Linker: lld, mold, gold, bfd, or default")
if(NOT KMB_LINKER STREQUAL "default")
  add_link_options(-fuse-ld=${KMB_LINKER})
endif()
