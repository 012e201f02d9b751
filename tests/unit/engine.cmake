# Engine module: manifest lines, synthetic images, image decoding, and the builtin engine.
rt_unit_test(manifest ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_manifest.c LIBS rt_engine)
# manifest_written_manifests_pass_gt_checker runs tests/integration/gt_manifest_check.py on what
# the writer wrote (skipped without python3).
target_compile_definitions(test_manifest PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}")
rt_unit_test(synth ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_synth.c LIBS rt_synth rt_engine)
rt_unit_test(engine ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_engine_image.c LIBS rt_engine rt_synth
             PkgConfig::PNG)
if(TARGET rt_store)
  rt_unit_test(engine ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_engine.c LIBS rt_engine rt_synth
               rt_store)
endif()
# The builtin training against an in-memory store written in the test (the async interface only).
rt_unit_test(engine ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_engine_train.c LIBS rt_engine rt_synth)
# The rekognition driver against the aws-twin's Rekognition (routes/rekognition.js); each case
# exits 77 (skipped) when node or the twin's npm packages are missing.
if(TARGET rt_aws)
  rt_unit_test(engine ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_engine_rekognition.c LIBS rt_engine
               rt_aws)
  if(TARGET test_engine_rekognition)
    target_compile_definitions(test_engine_rekognition PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}"
                               RT_BUILD_DIR="${CMAKE_BINARY_DIR}")
  endif()
endif()
