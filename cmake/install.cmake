# cmake --install: the sluice binary, a man page per command group (help2man, when found),
# the systemd units and the example configuration under packaging/. Honours --prefix (given at
# configure or at install time) and DESTDIR. Like Debian's packages, a /usr (or /) install puts
# its configuration in /etc/sluice and its units in the system's unit directory; any other
# prefix keeps both under the prefix (PREFIX/etc/sluice, PREFIX/lib/systemd/system). The
# choice is made at install time by cmake/install_packaging.cmake; -DSL_SYSCONFDIR=DIR and
# -DSL_SYSTEMD_UNITDIR=DIR fix either one.
include(GNUInstallDirs)

set(SL_SYSCONFDIR "" CACHE PATH
    "Directory that gets sluice/*.properties (empty: /etc for a /usr prefix, else PREFIX/etc)")
set(SL_SYSTEMD_UNITDIR "" CACHE PATH
    "Directory that gets the systemd units (empty: the system's for a /usr prefix)")
pkg_get_variable(_sl_unitdir systemd systemdsystemunitdir)
if(NOT _sl_unitdir)
  set(_sl_unitdir /lib/systemd/system)
endif()
# Cached so that tests/integration/test_package.py reads the same value.
set(SL_SYSTEMD_SYSTEM_UNITDIR "${_sl_unitdir}" CACHE INTERNAL "the system's systemd unit dir")

install(TARGETS sluice RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(CODE "
  set(SL_SRC \"${CMAKE_SOURCE_DIR}/packaging\")
  set(SL_WORK \"${CMAKE_BINARY_DIR}/packaging\")
  set(SL_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(SL_SYSCONFDIR \"${SL_SYSCONFDIR}\")
  set(SL_SYSTEMD_UNITDIR \"${SL_SYSTEMD_UNITDIR}\")
  set(SL_SYSTEMD_SYSTEM_UNITDIR \"${SL_SYSTEMD_SYSTEM_UNITDIR}\")")
install(SCRIPT ${CMAKE_SOURCE_DIR}/cmake/install_packaging.cmake)

# Man pages: sluice(1) from `sluice --help` and sluice-GROUP(1) from `sluice GROUP --help`,
# made at build time by help2man (through packaging/man/help, which fails the build when a
# --help fails). Without help2man the build goes on without them.
find_program(HELP2MAN help2man)
set(SL_MAN_GROUPS
    "|a single-binary Kafka-compatible broker and its pipeline services"
    "serve|run the Kafka-compatible broker"
    "topics|list, describe, create, delete and alter topics"
    "groups|list, describe, reset and delete consumer groups"
    "acls|add, remove and list ACLs"
    "produce|write lines of standard input to a topic"
    "consume|print a topic's records"
    "users|add, remove and list the broker's SASL users"
    "jobs|the durable job pipeline and its operator commands"
    "join|stream-table and table-table joins by key"
    "gateway|HTTP produce and WebSocket STOMP fan-out"
    "inspect-worker|OCR page inspection worker for sluice jobs")
if(HELP2MAN)
  set(_sl_pages)
  set(_sl_see_also "[SEE ALSO]\n")
  foreach(g ${SL_MAN_GROUPS})
    string(REGEX REPLACE "\\|.*" "" _grp "${g}")
    set(_page sluice)
    if(_grp)
      set(_page sluice-${_grp})
    endif()
    string(APPEND _sl_see_also ".BR ${_page} (1)\n")
  endforeach()
  string(APPEND _sl_see_also ".PP\nThe full manual is docs/ in the Sluice source tree.\n")
  file(WRITE ${CMAKE_BINARY_DIR}/man/see-also.h2m "${_sl_see_also}")
  foreach(g ${SL_MAN_GROUPS})
    string(REGEX REPLACE "\\|.*" "" _grp "${g}")
    string(REGEX REPLACE "^[^|]*\\|" "" _desc "${g}")
    set(_page sluice)
    if(_grp)
      set(_page sluice-${_grp})
    endif()
    set(_out ${CMAKE_BINARY_DIR}/man/${_page}.1)
    add_custom_command(
      OUTPUT ${_out}
      COMMAND ${HELP2MAN} --no-info --section=1 --manual=Sluice
              "--source=Sluice ${PROJECT_VERSION}" "--name=${_desc}"
              "--version-string=${_page} ${PROJECT_VERSION}"
              --include=${CMAKE_BINARY_DIR}/man/see-also.h2m --output=${_out}
              "${CMAKE_SOURCE_DIR}/packaging/man/help $<TARGET_FILE:sluice> ${_grp}"
      DEPENDS sluice ${CMAKE_SOURCE_DIR}/packaging/man/help ${CMAKE_BINARY_DIR}/man/see-also.h2m
      COMMENT "Generating man page ${_page}(1)" VERBATIM)
    list(APPEND _sl_pages ${_out})
  endforeach()
  add_custom_target(man ALL DEPENDS ${_sl_pages})
  install(FILES ${_sl_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(STATUS "help2man not found: no man pages (scripts/setup installs it)")
endif()
