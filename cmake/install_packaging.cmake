# Runs inside `cmake --install` (install(SCRIPT) in cmake/install.cmake), where
# CMAKE_INSTALL_PREFIX is the install-time prefix: installs the systemd units (naming the
# installed binary and configuration) and the example *.properties. file(INSTALL) adds DESTDIR.
# In: SL_SRC (packaging/), SL_WORK (a scratch dir in the build), SL_BINDIR (relative), SL_SYSCONFDIR and
# SL_SYSTEMD_UNITDIR (empty: chosen from the prefix), SL_SYSTEMD_SYSTEM_UNITDIR.
string(REGEX REPLACE "/+$" "" _prefix "${CMAKE_INSTALL_PREFIX}")
set(_system_prefix FALSE)
if(_prefix STREQUAL "/usr" OR _prefix STREQUAL "")
  set(_system_prefix TRUE)
endif()
set(_sysconf "${SL_SYSCONFDIR}")
if(NOT _sysconf)
  set(_sysconf "${_prefix}/etc")
  if(_system_prefix)
    set(_sysconf /etc)
  endif()
endif()
set(_unitdir "${SL_SYSTEMD_UNITDIR}")
if(NOT _unitdir)
  set(_unitdir "${_prefix}/lib/systemd/system")
  if(_system_prefix)
    set(_unitdir "${SL_SYSTEMD_SYSTEM_UNITDIR}")
  endif()
endif()

# A directory of this run's own: installs may run side by side from one build directory.
string(RANDOM LENGTH 12 _run)
set(_work "${SL_WORK}/install-${_run}")
set(SL_BIN_DIR "${_prefix}/${SL_BINDIR}")
set(SL_CONF_DIR "${_sysconf}/sluice")
file(GLOB _units ${SL_SRC}/*.service.in)
set(_out)
foreach(u ${_units})
  get_filename_component(_name ${u} NAME)
  string(REGEX REPLACE "\\.in$" "" _name "${_name}")
  configure_file(${u} ${_work}/${_name} @ONLY)
  list(APPEND _out ${_work}/${_name})
endforeach()
file(INSTALL DESTINATION "${_unitdir}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE
     GROUP_READ WORLD_READ FILES ${_out})
file(GLOB _conf ${SL_SRC}/*.properties)
file(INSTALL DESTINATION "${SL_CONF_DIR}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE
     GROUP_READ WORLD_READ FILES ${_conf})
file(REMOVE_RECURSE "${_work}")
