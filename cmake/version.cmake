# Writes OUT (a C header defining SL_VERSION and SL_COMMIT) from the VERSION file and the git
# commit of SRC, at every build, touching OUT only when its text changes. Outside a git checkout
# (a source tarball) the commit is "unknown".
file(STRINGS ${SRC}/VERSION _ver LIMIT_COUNT 1)
set(_commit unknown)
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS ${SRC}/.git)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SRC} rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE _desc OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE _rc ERROR_QUIET)
  if(_rc EQUAL 0 AND _desc)
    set(_commit ${_desc})
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SRC} diff-index --quiet HEAD --
                    RESULT_VARIABLE _dirty OUTPUT_QUIET ERROR_QUIET)
    if(NOT _dirty EQUAL 0)
      set(_commit "${_commit}-dirty")
    endif()
  endif()
endif()
set(_text "#define SL_VERSION \"${_ver}\"\n#define SL_COMMIT \"${_commit}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} _old)
else()
  set(_old "")
endif()
if(NOT _old STREQUAL _text)
  file(WRITE ${OUT} "${_text}")
endif()
