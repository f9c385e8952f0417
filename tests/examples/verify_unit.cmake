# `systemd-analyze verify` of examples/assist-sync.service, with ExecStart
# pointed at the built binary (verify checks that it exists). verify exits 0
# even when it ignores a misspelt key or value, so any diagnostic fails.
#   cmake -DSYSTEMD_ANALYZE=... -DUNIT=... -DBINARY=... -DWORK_DIR=... -P verify_unit.cmake
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
file(READ ${UNIT} text)
string(REPLACE "/usr/local/bin/assist-sync" "${BINARY}" text "${text}")
file(WRITE ${WORK_DIR}/assist-sync.service "${text}")
execute_process(COMMAND ${SYSTEMD_ANALYZE} verify ${WORK_DIR}/assist-sync.service
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT "${out}${err}" STREQUAL "")
  message(FATAL_ERROR "systemd-analyze verify: exit ${rc}\n${out}${err}")
endif()
foreach(needed "Type=notify" "WatchdogSec=" "RestartPreventExitStatus=" "LogsDirectory=" "StateDirectory=")
  string(FIND "${text}" "${needed}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the example unit lacks ${needed}")
  endif()
endforeach()
message(STATUS "systemd-analyze verify: no diagnostics")
