# Runs at install time (cmake --install, cpack), included by cmake_install.cmake: places the
# files whose paths depend on the prefix used *then*, not at configure time. With the prefix
# /usr (the .deb) the configs go to /etc/discplane (Debian's sysconfdir); with any other prefix
# to <prefix>/etc/discplane. The systemd unit and the DPDK drop-in name the installed binary and
# configs. file(INSTALL) honours DESTDIR and records the files in install_manifest.txt.
# Inputs (set by packaging/CMakeLists.txt): DP_PKG_SRC_DIR, DP_PKG_BIN_DIR, DP_BINDIR,
# DP_SYSCONFDIR, DP_DOCDIR, DP_CONF_FILES.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(DP_ETC_DIR "/etc")
else()
  set(DP_ETC_DIR "${CMAKE_INSTALL_PREFIX}/${DP_SYSCONFDIR}")
endif()
set(DP_BIN_DIR "${CMAKE_INSTALL_PREFIX}/${DP_BINDIR}")
set(DP_DOC_DIR "${CMAKE_INSTALL_PREFIX}/${DP_DOCDIR}")

configure_file("${DP_PKG_SRC_DIR}/discplane.service.in" "${DP_PKG_BIN_DIR}/discplane.service"
               @ONLY)
configure_file("${DP_PKG_SRC_DIR}/discplane-dpdk.conf.in" "${DP_PKG_BIN_DIR}/discplane-dpdk.conf"
               @ONLY)

file(INSTALL DESTINATION "${DP_ETC_DIR}/discplane" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES ${DP_CONF_FILES})
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "${DP_PKG_BIN_DIR}/discplane.service")
file(INSTALL DESTINATION "${DP_DOC_DIR}/examples" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "${DP_PKG_BIN_DIR}/discplane-dpdk.conf")
