# Helpers shared by every module's CMakeLists.txt.
#
#   duende_add_module(<name> SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
#     adds the library duende_<name>, its alias duende::<name>, the public include dir
#     <name>/include, project warnings and install/export rules.
#   duende_add_program(<target> SOURCES ... [DEPS ...] [NO_INSTALL])
#     an executable with the same warnings.

set(DUENDE_WARNINGS -Wall -Wextra -Wshadow -Wconversion -Wold-style-cast -Wno-sign-conversion)

function(duende_set_warnings target)
  target_compile_options(${target} PRIVATE ${DUENDE_WARNINGS})
  if(DUENDE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

set_property(GLOBAL PROPERTY DUENDE_MODULES "")

function(duende_add_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target duende_${name})
  add_library(${target} ${ARG_SOURCES})
  add_library(duende::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME duende_${name}
                                             POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${target} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  target_compile_features(${target} PUBLIC cxx_std_20)
  duende_set_warnings(${target})
  install(TARGETS ${target} EXPORT duendeTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  set_property(GLOBAL APPEND PROPERTY DUENDE_MODULES ${name})
endfunction()

function(duende_add_program target)
  cmake_parse_arguments(ARG "NO_INSTALL" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ${ARG_DEPS})
  duende_set_warnings(${target})
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${target} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endfunction()

# Installs the export set and a duendeConfig.cmake so that consumers can write
#   find_package(duende REQUIRED) / target_link_libraries(app duende::framework)
function(duende_install_package)
  include(CMakePackageConfigHelpers)
  set(cfgdir ${CMAKE_INSTALL_LIBDIR}/cmake/duende)
  install(EXPORT duendeTargets NAMESPACE duende:: DESTINATION ${cfgdir})
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/duendeConfig.cmake.in
    ${PROJECT_BINARY_DIR}/duendeConfig.cmake INSTALL_DESTINATION ${cfgdir})
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/duendeConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/duendeConfig.cmake
                ${PROJECT_BINARY_DIR}/duendeConfigVersion.cmake DESTINATION ${cfgdir})
endfunction()
