# Small helpers shared by every layer's CMakeLists.txt.

# tk_add_layer(NAME <lib> SOURCES <...> [DEPS <targets...>])
#   A static library for one layer of DESIGN.md §2. DEPS are linked PUBLIC.
function(tk_add_layer)
  cmake_parse_arguments(A "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_library(${A_NAME} STATIC ${A_SOURCES})
  target_include_directories(${A_NAME} PUBLIC ${CMAKE_SOURCE_DIR}/include
                                       PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${A_NAME} PUBLIC ${A_DEPS})
endfunction()

# tk_add_test(NAME <test> SOURCES <...> [LIBS <...>] [LABELS <...>] [TIMEOUT <s>] [ARGS <...>])
#   One cmocka executable registered with CTest. LABELS defaults to "unit"; tests labelled
#   "unit" also run under the sanitizers (make asan). Use "slow" or "e2e" for long ones.
#   The working directory is the repository root so tests can find tests/data/.
function(tk_add_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  if(TK_FUZZ)
    return()
  endif()
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  add_executable(${A_NAME} ${A_SOURCES})
  target_include_directories(${A_NAME} PRIVATE ${CMAKE_SOURCE_DIR}/tests ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${A_NAME} PRIVATE ${A_LIBS} PkgConfig::CMOCKA)
  add_test(NAME ${A_NAME} COMMAND ${A_NAME} ${A_ARGS} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${A_NAME} PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT}
    ENVIRONMENT "TK_BUILD_DIR=${CMAKE_BINARY_DIR};OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
endfunction()

# tk_add_fuzzer(NAME <fuzz_x> SOURCES <...> LIBS <...>)
#   A libFuzzer target, built only with -DTK_FUZZ=ON (clang).
function(tk_add_fuzzer)
  cmake_parse_arguments(A "" "NAME" "SOURCES;LIBS" ${ARGN})
  if(NOT TK_FUZZ)
    return()
  endif()
  add_executable(${A_NAME} ${A_SOURCES})
  target_link_libraries(${A_NAME} PRIVATE ${A_LIBS})
  target_link_options(${A_NAME} PRIVATE -fsanitize=fuzzer)
endfunction()
