# Helpers shared by every target of the project.

# The project's warning set. CMAKE_COMPILE_WARNING_AS_ERROR (set by the dev and
# asan presets) turns them into errors.
function(assist_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wshadow)
endfunction()

# A library component: assist_<name>, exported as assist::<name>.
function(assist_component name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(assist_${name} ${ARG_SOURCES})
  add_library(assist::${name} ALIAS assist_${name})
  set_target_properties(assist_${name} PROPERTIES EXPORT_NAME ${name} POSITION_INDEPENDENT_CODE ON)
  target_include_directories(assist_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_features(assist_${name} PUBLIC cxx_std_20)
  target_link_libraries(assist_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  assist_warnings(assist_${name})
  install(TARGETS assist_${name} EXPORT assistTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endfunction()
