# Script mode: install, configure + build the consumer, run it.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${DUENDE_BINARY_DIR} --prefix ${prefix}
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build
                        -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${prefix}
                        "-DCMAKE_CXX_FLAGS=${CONSUMER_CXX_FLAGS}"
                        "-DCMAKE_EXE_LINKER_FLAGS=${CONSUMER_LINKER_FLAGS}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the consumer failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the consumer failed: ${rc}")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the consumer failed: ${rc}")
endif()

# The installed `duende` runs its verbs' programs from the install tree (libexec/duende), not
# from the build tree: `duende mutate` lists the mutants of a one-file project through the
# installed duende-mutate, and `duende supervise` answers through the installed
# duende-supervise.
foreach(program duende-mutate duende-supervise)
  if(NOT EXISTS ${prefix}/libexec/duende/${program})
    message(FATAL_ERROR "install tree lacks libexec/duende/${program}")
  endif()
endforeach()
set(project ${WORK_DIR}/mutate-project)
file(WRITE ${project}/src/CMakeLists.txt
     "cmake_minimum_required(VERSION 3.16)\nproject(calc CXX)\nadd_library(calc calc.cc)\n")
file(WRITE ${project}/src/calc.cc "int Above(int a, int b) { return a > b; }\n")
file(WRITE ${project}/build/compile_commands.json
     "[{\"directory\": \"${project}/build\", \"file\": \"${project}/src/calc.cc\", "
     "\"command\": \"c++ -std=c++17 -c ../src/calc.cc -o calc.o\"}]\n")
execute_process(COMMAND ${prefix}/bin/duende mutate --list -q -p ${project}/build
                        --source-dir ${project}/src
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "calc.cc:1:36: note: mutant 2: '>' -> '>='")
  message(FATAL_ERROR "installed duende mutate --list failed (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${prefix}/bin/duende supervise --help RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "services file")
  message(FATAL_ERROR "installed duende supervise --help failed (${rc}):\n${out}${err}")
endif()
message("installed duende mutate and duende supervise: ok")
