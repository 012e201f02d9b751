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
# Allocation-failure torture of the census, the events' JSON and the machine's transitions.
rt_unit_test(workflow ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_workflow_alloc.c LIBS rt_workflow PkgConfig::SQLITE)
if(TARGET test_workflow_alloc)
  target_include_directories(test_workflow_alloc PRIVATE ${CMAKE_SOURCE_DIR}/src/workflow)
endif()
# The detection service, the detection and sampling workflows (#8): real journal and local store,
# fake engine and review driver.
rt_unit_test(workflow ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_detection.c
             LIBS rt_workflow rt_store PkgConfig::SQLITE PkgConfig::LIBUV PkgConfig::CJSON)
if(TARGET test_detection)
  target_include_directories(test_detection PRIVATE ${CMAKE_SOURCE_DIR}/src/workflow)
endif()
