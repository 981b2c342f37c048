# Test registration helpers.  Every test is a CTest test; exit status 77
# means "skipped" (the test prints why).
#
#   rd_add_test(NAME n SOURCES a.c ... LIBS l ... [ARGS ...] [LABELS ...] [TIMEOUT s])
#   rd_add_script_test(NAME n COMMAND cmd ... [LABELS ...] [TIMEOUT s])
#   rd_add_mpi_test(NAME n NP k TARGET exe [ARGS ...] [LABELS ...] [TIMEOUT s])
set(RD_MPIRUN ${MPIEXEC_EXECUTABLE})
set(RD_MPIRUN_FLAGS --oversubscribe --bind-to none --mca btl self,vader,tcp
    --mca btl_vader_single_copy_mechanism none)

function(rd_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;ARGS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  rd_target_defaults(${T_NAME})
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT ${T_TIMEOUT}
                       LABELS "${T_LABELS}")
endfunction()

function(rd_add_script_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "COMMAND;LABELS;ENV" ${ARGN})
  add_test(NAME ${T_NAME} COMMAND ${T_COMMAND})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT ${T_TIMEOUT}
                       LABELS "${T_LABELS}"
                       ENVIRONMENT "RD_BUILD=${PROJECT_BINARY_DIR};RD_SOURCE=${PROJECT_SOURCE_DIR};RD_PYTHON=${RESNET_PYTHON};OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;${T_ENV}")
endfunction()

function(rd_add_mpi_test)
  cmake_parse_arguments(T "" "NAME;NP;TARGET;TIMEOUT" "ARGS;LABELS" ${ARGN})
  add_test(NAME ${T_NAME}
           COMMAND ${RD_MPIRUN} ${RD_MPIRUN_FLAGS} -np ${T_NP} $<TARGET_FILE:${T_TARGET}> ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT ${T_TIMEOUT}
                       LABELS "mpi;${T_LABELS}" PROCESSORS ${T_NP}
                       ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
endfunction()
