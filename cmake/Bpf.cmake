# Optional eBPF support: clang + bpftool + libbpf present -> SOCKDOCTOR_HAVE_BPF, else built without.
set(SOCKDOCTOR_HAVE_BPF OFF)
if(SOCKDOCTOR_WITH_BPF)
  find_program(BPFTOOL_EXE bpftool PATHS /usr/sbin /sbin)
  find_program(BPF_CLANG_EXE NAMES clang clang-19 clang-16 clang-14)
  pkg_check_modules(LIBBPF IMPORTED_TARGET libbpf>=0.7)
  if(BPFTOOL_EXE AND BPF_CLANG_EXE AND LIBBPF_FOUND AND EXISTS /sys/kernel/btf/vmlinux)
    set(SOCKDOCTOR_HAVE_BPF ON)
  else()
    message(STATUS "sockdoctor: eBPF backends disabled (need clang, bpftool, libbpf and /sys/kernel/btf/vmlinux)")
  endif()
endif()

# bpf_skeleton(<name> <source.bpf.c> [LIGHT]): builds <name>.skel.h into the binary dir, target
# <name>_skel. LIGHT: a light skeleton <name>.lskel.h instead (bpftool gen skeleton -L, C only):
# the kernel does its CO-RE relocations, so the process loading it never parses vmlinux BTF.
function(bpf_skeleton name source)
  set(kind skel)
  set(suffix bpf) # the skeleton's C names: <name>_bpf__open() ...
  set(gen_flags "")
  if(ARGN STREQUAL "LIGHT")
    set(kind lskel)
    set(suffix lskel)
    set(gen_flags "-L")
  endif()
  set(out ${CMAKE_BINARY_DIR}/bpf)
  set(vmlinux ${out}/vmlinux.h)
  if(NOT TARGET sockdoctor_vmlinux_h)
    add_custom_command(OUTPUT ${vmlinux}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
      COMMAND sh -c "${BPFTOOL_EXE} btf dump file /sys/kernel/btf/vmlinux format c > ${vmlinux}"
      VERBATIM COMMENT "Generating vmlinux.h from the running kernel's BTF")
    add_custom_target(sockdoctor_vmlinux_h DEPENDS ${vmlinux})
  endif()
  get_filename_component(src_dir ${source} DIRECTORY)
  file(GLOB abi_headers CONFIGURE_DEPENDS ${src_dir}/*.h) # map values and records: rebuild on change
  add_custom_command(OUTPUT ${out}/${name}.${kind}.h
    COMMAND ${BPF_CLANG_EXE} -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror
            -I${out} -I${src_dir} -c ${source} -o ${out}/${name}.bpf.o
    COMMAND ${BPFTOOL_EXE} gen object ${out}/${name}.bpf.lo ${out}/${name}.bpf.o
    COMMAND sh -c "${BPFTOOL_EXE} gen skeleton ${gen_flags} ${out}/${name}.bpf.lo name ${name}_${suffix} > ${out}/${name}.${kind}.h"
    DEPENDS ${source} ${abi_headers} ${vmlinux}
    VERBATIM COMMENT "Building BPF skeleton ${name}")
  add_custom_target(${name}_skel DEPENDS ${out}/${name}.${kind}.h)
  add_dependencies(${name}_skel sockdoctor_vmlinux_h)
endfunction()
