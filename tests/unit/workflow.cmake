rt_unit_test(workflow ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_workflow_table.c LIBS rt_workflow)
if(TARGET test_workflow_table)
  target_include_directories(test_workflow_table PRIVATE ${CMAKE_SOURCE_DIR}/src/workflow)
endif()
rt_unit_test(workflow ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_census.c
             LIBS rt_workflow rt_store PkgConfig::SQLITE)
rt_unit_test(workflow ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_workflow_machine.c
             LIBS rt_workflow PkgConfig::SQLITE PkgConfig::LIBUV)
if(TARGET test_workflow_machine)
  target_include_directories(test_workflow_machine PRIVATE ${CMAKE_SOURCE_DIR}/src/workflow)
endif()
