# Script mode. Installs duende twice into scratch prefixes with --strip: the library-only
# component (what a daemon and its tests need) and everything. Then builds the README's
# examples (the framework daemon and the property test, extracted from README.md so that they
# cannot drift) against the library-only install with a fresh CMake project, and runs both;
# then runs the installed `duende` verbs that execute programs of their own.
file(REMOVE_RECURSE ${WORK_DIR})
set(lib_prefix ${WORK_DIR}/library)
set(prefix ${WORK_DIR}/prefix)

function(must what)
  execute_process(${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

function(prefix_size dir var)
  file(GLOB_RECURSE files LIST_DIRECTORIES false ${dir}/*)
  set(total 0)
  foreach(f ${files})
    file(SIZE ${f} s)
    math(EXPR total "${total} + ${s}")
  endforeach()
  math(EXPR mib "${total} / 1048576")
  set(${var} ${mib} PARENT_SCOPE)
endfunction()

must("cmake --install --component library"
     COMMAND ${CMAKE_COMMAND} --install ${DUENDE_BINARY_DIR} --prefix ${lib_prefix} --strip
             --component library)
must("cmake --install" COMMAND ${CMAKE_COMMAND} --install ${DUENDE_BINARY_DIR}
                               --prefix ${prefix} --strip)
prefix_size(${lib_prefix} lib_mib)
prefix_size(${prefix} full_mib)
message("install sizes with --strip: library component ${lib_mib} MiB, everything ${full_mib} MiB")
# The RelWithDebInfo archives are 500 MiB with their DWARF; --strip must take it out.
if(lib_mib GREATER 60 OR full_mib GREATER 80)
  message(FATAL_ERROR "the stripped install is too big: ${lib_mib} / ${full_mib} MiB")
endif()

# The library component carries nothing of the CLI's compiler libraries (libclang) and no
# path into this build tree (run-time files are found relative to the prefix).
foreach(f lib/libduende_mutate.a libexec/duende/duende-mutate bin/duende
          lib/cmake/duende/duendeMutateTargets.cmake)
  if(EXISTS ${lib_prefix}/${f})
    message(FATAL_ERROR "the library component installed ${f}")
  endif()
endforeach()
foreach(f lib/libduende_harness_explore.a include/duende/harness/explore.h
          include/duende/harness/gen.h lib/duende/libduende-fiu-shim.so
          libexec/duende/duende-fixture-kvd libexec/duende/duende-fixture-counterd
          lib/cmake/duende/duendeExploreTargets.cmake)
  if(NOT EXISTS ${lib_prefix}/${f})
    message(FATAL_ERROR "the library component lacks ${f}")
  endif()
endforeach()
file(GLOB_RECURSE lib_files ${lib_prefix}/lib/*)
foreach(f ${lib_files})
  file(STRINGS ${f} hits REGEX "${DUENDE_BINARY_DIR}|/usr/local/lib/duende" LIMIT_COUNT 1)
  if(hits)
    message(FATAL_ERROR "${f} names a fixed path: ${hits}")
  endif()
endforeach()

# The consumer: tests/install/consumer plus the README's two examples.
set(src ${WORK_DIR}/src)
file(COPY ${CONSUMER_SOURCE_DIR}/ DESTINATION ${src})
file(READ ${DUENDE_SOURCE_DIR}/README.md readme)
# The first ```cpp block after the line `heading` of the markdown text `doc` (named `name`).
function(doc_block doc name heading var)
  string(FIND "${doc}" "\n${heading}\n" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${name} has no section '${heading}'")
  endif()
  string(SUBSTRING "${doc}" ${at} -1 rest)
  string(FIND "${rest}" "```cpp\n" begin)
  string(FIND "${rest}" "\n```\n" end)
  if(begin EQUAL -1 OR end LESS begin)
    message(FATAL_ERROR "${name}'s '${heading}' has no ```cpp block")
  endif()
  math(EXPR begin "${begin} + 7")
  math(EXPR len "${end} - ${begin} + 1")
  string(SUBSTRING "${rest}" ${begin} ${len} block)
  set(${var} "${block}" PARENT_SCOPE)
endfunction()
doc_block("${readme}" README.md "## Framework" hello_cc)
doc_block("${readme}" README.md "## Property tests of your own daemon" property_cc)
# docs/explore.md shows the counter's property from consumer/counter_test.cc: word for word.
file(READ ${DUENDE_SOURCE_DIR}/docs/explore.md explore_md)
doc_block("${explore_md}" docs/explore.md "## A counter's property test, from an install" counter_cc)
file(READ ${CONSUMER_SOURCE_DIR}/counter_test.cc counter_src)
string(FIND "${counter_src}" "${counter_cc}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "docs/explore.md's counter example is not in consumer/counter_test.cc:\n"
                      "${counter_cc}")
endif()
# The README's property test names kMyDaemon, the scenario text of
# tests/harness/explore_example_test.cc (where the README says it is).
file(READ ${DUENDE_SOURCE_DIR}/tests/harness/explore_example_test.cc example)
string(REGEX MATCH "constexpr const char\\* kMyDaemon = R\"\\(.*\n\\)\";" scenario "${example}")
if(NOT scenario)
  message(FATAL_ERROR "tests/harness/explore_example_test.cc has no kMyDaemon")
endif()
file(WRITE ${src}/hello.cc "${hello_cc}")
file(WRITE ${src}/property_test.cc
     "#include <gtest/gtest.h>\n#include <rapidcheck/gtest.h>\n\n#include \"duende/harness/gen.h\"\n\n"
     "namespace {\n${scenario}\n}  // namespace\n\n${property_cc}")

must("configuring the consumer"
     COMMAND ${CMAKE_COMMAND} -S ${src} -B ${WORK_DIR}/build -G ${GENERATOR}
             -DCMAKE_PREFIX_PATH=${lib_prefix} "-DCMAKE_CXX_FLAGS=${CONSUMER_CXX_FLAGS}"
             "-DCMAKE_EXE_LINKER_FLAGS=${CONSUMER_LINKER_FLAGS}")
must("building the consumer" COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
must("the consumer" COMMAND ${WORK_DIR}/build/consumer)
message("${out}")

# The README's daemon: ready, reloads on SIGHUP, stops on SIGTERM with exit code 0.
file(WRITE ${WORK_DIR}/hello.toml
     "name = \"hello\"\nshutdown_timeout = \"2s\"\n[app]\ngreeting = \"hola\"\n")
# (A script file: `must` passes its arguments on as a list, which would split at semicolons.)
file(WRITE ${WORK_DIR}/hello.sh "${WORK_DIR}/build/hello --config ${WORK_DIR}/hello.toml &
pid=$!
sleep 1.5
kill -HUP $pid
sleep 0.3
kill -TERM $pid
wait $pid
")
must("the README's hello daemon" COMMAND sh ${WORK_DIR}/hello.sh TIMEOUT 60)
if(NOT err MATCHES "info: ready" OR NOT err MATCHES "info: hola"
   OR NOT err MATCHES "reloaded config" OR NOT err MATCHES "exiting with code 0")
  message(FATAL_ERROR "the README's hello daemon did not do what the README shows:\n${err}")
endif()
message("README hello daemon: ok")

# The README's property test: kvd (installed in libexec/duende) under faults, with duende's
# fiu shim found in the install's lib/duende (nothing in the environment points there).
set(ENV{RC_PARAMS} "seed=20261127 max_success=2")
unset(ENV{DUENDE_FIU_SHIM})
unset(ENV{DUENDE_FIXTURES_DIR})
must("the README's property test" COMMAND ${WORK_DIR}/build/property_test TIMEOUT 120)
if(NOT out MATCHES "PASSED +\\] 1 test")
  message(FATAL_ERROR "the README's property test ran no cases:\n${out}${err}")
endif()
message("README property test: ok")

# docs/explore.md's counter property (consumer/counter_test.cc) against the installed counter
# fixture: its planted twin (acknowledging before persisting) FAILS, and rapidcheck shrinks
# the failing fault plan to exactly one kill; the fsyncing counter passes the same property.
# Each case is a real run of about 1.5 s: the seed's first failure comes at its second case.
set(ENV{RC_PARAMS} "seed=20261206 max_success=4")
execute_process(COMMAND ${WORK_DIR}/build/counter_test --gtest_filter=MyPlantedCounter.*
                TIMEOUT 150 RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT out MATCHES "FAILED +\\] MyPlantedCounter.KeepsEveryAcknowledgedIncrement")
  message(FATAL_ERROR "the planted counter's property did not fail (${rc}):\n${out}${err}")
endif()
if(NOT out MATCHES "Falsifiable after ([0-9]+) tests? and ([0-9]+) shrinks?")
  message(FATAL_ERROR "rapidcheck did not shrink the planted counter's failure:\n${out}${err}")
endif()
set(shrinks ${CMAKE_MATCH_2})
if(NOT out MATCHES "\nduende::harness::Plan:\n([^\n]*)\n")
  message(FATAL_ERROR "rapidcheck printed no counterexample plan:\n${out}${err}")
endif()
set(minimal "${CMAKE_MATCH_1}")
if(NOT minimal MATCHES "^kill\\(signal=\"SIGKILL\"\\) on counterd at [0-9]+ms$")
  message(FATAL_ERROR "the shrunk plan is not one kill: '${minimal}'\n${out}${err}")
endif()
if(NOT out MATCHES "counter: [0-9]+ of [0-9]+ reads out of bounds\n +lost increments: ")
  message(FATAL_ERROR "the counter check cited no lost increment:\n${out}${err}")
endif()
message("planted counter: FAILS, shrunk in ${shrinks} steps to: ${minimal}")
# rapidcheck's progress (stderr): a '.' per passed case, an 'x' per discarded one.
set(ENV{RC_PARAMS} "seed=20261206 max_success=3 verbose_progress=1")
must("the counter's property" COMMAND ${WORK_DIR}/build/counter_test --gtest_filter=MyCounter.*
     TIMEOUT 120)
string(REGEX MATCH "verbose_progress=1\n([.x]+)\n" progress "${err}")
string(REGEX REPLACE "[^.]" "" passed "${CMAKE_MATCH_1}")
string(LENGTH "${passed}" passed)
if(NOT passed EQUAL 3 OR NOT out MATCHES "PASSED +\\] 1 test")
  message(FATAL_ERROR "the counter's property did not pass 3 cases:\n${out}${err}")
endif()
message("docs/explore.md counter property test: ok")

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
