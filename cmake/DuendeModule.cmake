# Helpers shared by every module's CMakeLists.txt.
#
#   duende_add_module(<name> SOURCES ... [DEPS ...] [PRIVATE_DEPS ...]
#                     [EXPORT_SET <set>] [COMPONENT <component>])
#     adds the library duende_<name>, its alias duende::<name>, the public include dir
#     <name>/include, project warnings and install/export rules (export set duendeTargets and
#     install component `library` unless told otherwise).
#   duende_install_archive(<target> <component>)
#     installs a static library; `cmake --install --strip` also strips its debug information.
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
  cmake_parse_arguments(ARG "" "EXPORT_SET;COMPONENT" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  if(NOT ARG_EXPORT_SET)
    set(ARG_EXPORT_SET duendeTargets)
  endif()
  if(NOT ARG_COMPONENT)
    set(ARG_COMPONENT library)
  endif()
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
  duende_install_archive(${target} ${ARG_COMPONENT} ${ARG_EXPORT_SET})
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT ${ARG_COMPONENT})
  set_property(GLOBAL APPEND PROPERTY DUENDE_MODULES ${name})
endfunction()

# The RelWithDebInfo archives are mostly DWARF (libduende_harness.a: 110 MB, 4 MB without);
# `cmake --install --strip` strips executables only, so the archives' debug sections are
# stripped here (symbols stay: they are still linkable).
function(duende_install_archive target component export_set)
  install(TARGETS ${target} EXPORT ${export_set}
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT ${component}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT ${component})
  install(CODE "if(CMAKE_INSTALL_DO_STRIP)
    execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug
      \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/$<TARGET_FILE_NAME:${target}>\"
      COMMAND_ERROR_IS_FATAL ANY)
  endif()" COMPONENT ${component})
endfunction()

function(duende_add_program target)
  cmake_parse_arguments(ARG "NO_INSTALL" "COMPONENT" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_COMPONENT)
    set(ARG_COMPONENT cli)
  endif()
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ${ARG_DEPS})
  duende_set_warnings(${target})
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${target} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT ${ARG_COMPONENT})
  endif()
endfunction()

# Installs the export sets and a duendeConfig.cmake so that consumers can write
#   find_package(duende REQUIRED) / target_link_libraries(app duende::framework)
# Install components (docs/install.md): `library` (every library but mutate, headers, the
# fiu shim, the microvm helpers, the kvd and hello fixtures, this package config), `mutate`
# (duende::mutate, which links libclang) and `cli` (the duende program and its helpers).
function(duende_install_package)
  include(CMakePackageConfigHelpers)
  set(cfgdir ${CMAKE_INSTALL_LIBDIR}/cmake/duende)
  install(EXPORT duendeTargets NAMESPACE duende:: DESTINATION ${cfgdir} COMPONENT library)
  install(EXPORT duendeExploreTargets NAMESPACE duende:: DESTINATION ${cfgdir}
          COMPONENT library)
  install(EXPORT duendeMutateTargets NAMESPACE duende:: DESTINATION ${cfgdir} COMPONENT mutate)
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/duendeConfig.cmake.in
    ${PROJECT_BINARY_DIR}/duendeConfig.cmake INSTALL_DESTINATION ${cfgdir})
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/duendeConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/duendeConfig.cmake
                ${PROJECT_BINARY_DIR}/duendeConfigVersion.cmake DESTINATION ${cfgdir}
          COMPONENT library)
endfunction()
