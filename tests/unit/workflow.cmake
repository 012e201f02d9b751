rt_unit_test(workflow ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_workflow_table.c LIBS rt_workflow)
if(TARGET test_workflow_table)
  target_include_directories(test_workflow_table PRIVATE ${CMAKE_SOURCE_DIR}/src/workflow)
endif()
# Allocation-failure torture of the census, the events' JSON and the machine's transitions.
rt_unit_test(workflow ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_workflow_alloc.c LIBS rt_workflow PkgConfig::SQLITE)
if(TARGET test_workflow_alloc)
  target_include_directories(test_workflow_alloc PRIVATE ${CMAKE_SOURCE_DIR}/src/workflow)
endif()
