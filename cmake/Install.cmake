# What `cmake --install` puts where (GNUInstallDirs) and the Debian package `cpack -G DEB` makes of
# it (README "Install"). Man pages are every docs/man/*.8; completions and the unit are deploy/.
include(GNUInstallDirs)

# bin, not sbin: most of sockdoctor is for every user (sock_diag dumps are unprivileged, and
# without privileges it names the user's own processes), and sbin is not on users' PATH on
# Debian. Section 8 of the manual (like ss(8), also in bin) says it is an administrator's tool.
install(TARGETS sockdoctor RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Man pages, gzipped as Debian policy asks (-n: no name or time stamp, reproducible).
file(GLOB SOCKDOCTOR_MAN_PAGES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/man/*.8)
set(man_gz "")
foreach(page ${SOCKDOCTOR_MAN_PAGES})
  get_filename_component(name ${page} NAME)
  set(out ${CMAKE_BINARY_DIR}/man/${name}.gz)
  add_custom_command(OUTPUT ${out} COMMAND sh -c "gzip -9n < \"$1\" > \"$2\"" sh ${page} ${out}
                     DEPENDS ${page} COMMENT "gzip ${name}" VERBATIM)
  list(APPEND man_gz ${out})
endforeach()
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/man)
add_custom_target(sockdoctor_man ALL DEPENDS ${man_gz})
install(FILES ${man_gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

# Completions where Debian's bash-completion and zsh look: /usr/share/bash-completion/completions
# and /usr/share/zsh/vendor-completions. zsh does not read vendor-completions under /usr/local,
# so other prefixes get its site-functions. The prefix is known only at install time
# (`cmake --install --prefix`, /usr in the package), hence the choice in install(CODE).
set(SOCKDOCTOR_BASH_COMPLETION_DIR ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
    CACHE STRING "Where the bash completion goes (relative to the prefix)")
set(SOCKDOCTOR_ZSH_COMPLETION_DIR "" CACHE STRING
    "Where the zsh completion goes, relative to the prefix (empty: chosen at install time)")
install(FILES deploy/completion/sockdoctor.bash DESTINATION ${SOCKDOCTOR_BASH_COMPLETION_DIR}
        RENAME sockdoctor)
install(CODE "
  set(zsh_dir \"${SOCKDOCTOR_ZSH_COMPLETION_DIR}\")
  if(zsh_dir STREQUAL \"\" AND CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(zsh_dir \"${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions\")
  elseif(zsh_dir STREQUAL \"\")
    set(zsh_dir \"${CMAKE_INSTALL_DATADIR}/zsh/site-functions\")
  endif()
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/\${zsh_dir}\" TYPE FILE
       FILES \"${PROJECT_SOURCE_DIR}/deploy/completion/_sockdoctor\")")

# The systemd unit, its ExecStart pointed at the installed binary (the prefix is known only at
# install time: `cmake --install --prefix`, or /usr in the package). systemd reads
# PREFIX/lib/systemd/system for /usr and /usr/local.
set(SOCKDOCTOR_SYSTEMD_UNIT_DIR lib/systemd/system CACHE STRING
    "Where the systemd unit goes (relative to the prefix)")
set(unit_src ${PROJECT_SOURCE_DIR}/deploy/systemd/sockdoctor.service)
set(unit_out ${CMAKE_BINARY_DIR}/deploy/sockdoctor.service)
install(CODE "
  file(READ \"${unit_src}\" unit)
  set(bin \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/sockdoctor\")
  string(REPLACE \"/usr/bin/sockdoctor\" \"\${bin}\" unit \"\${unit}\")
  file(WRITE \"${unit_out}\" \"\${unit}\")")
install(FILES ${unit_out} DESTINATION ${SOCKDOCTOR_SYSTEMD_UNIT_DIR})

install(FILES README.md docs/kernel-behaviour.md docs/performance.md docs/tracing.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The Debian package. Dependencies come from dpkg-shlibdeps on the binary. The unit is installed
# disabled: the maintainer scripts (deploy/debian/) never enable or start it; they stop it on
# removal and forget it on purge, as dh_installsystemd --no-enable --no-start would.
set(SOCKDOCTOR_MAINTAINER "sockdoctor maintainers <sockdoctor@localhost>" CACHE STRING
    "The Debian package's Maintainer field")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sockdoctor)
set(CPACK_PACKAGE_CONTACT ${SOCKDOCTOR_MAINTAINER})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "who holds stuck TCP sockets, since when, why, and what to do")
set(CPACK_PACKAGE_DESCRIPTION
    "sockdoctor reads the kernel's TCP socket table (netlink sock_diag), names the processes
that hold CLOSE_WAIT, TIME_WAIT, FIN_WAIT2 and LAST_ACK sockets, estimates how long each
has been stuck, and explains what the kernel settings on this host mean for what it sees.
It stays fast on hosts with a million connections. Commands: check, ls, explain, top, lab
and trace (eBPF); a systemd unit for the Prometheus exporter is installed disabled.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bash-completion, nginx-light")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
