# Fuzz targets of the engine module: the image decoder and the manifest parser.
file(GLOB rt_fuzz_core_sources ${CMAKE_SOURCE_DIR}/src/core/*.c)
add_test(NAME fuzz_image COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh image 10
         ${CMAKE_CURRENT_SOURCE_DIR}/data/fuzz/image ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_image.c
         ${CMAKE_SOURCE_DIR}/src/engine/builtin/image.c ${rt_fuzz_core_sources})
set_tests_properties(fuzz_image PROPERTIES LABELS fuzz
                     ENVIRONMENT RETRAIND_BUILD=${CMAKE_BINARY_DIR} TIMEOUT 180)
add_test(NAME fuzz_manifest COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh manifest 10
         ${CMAKE_CURRENT_SOURCE_DIR}/data/fuzz/manifest
         ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_manifest.c ${CMAKE_SOURCE_DIR}/src/engine/manifest.c
         ${rt_fuzz_core_sources})
set_tests_properties(fuzz_manifest PROPERTIES LABELS fuzz
                     ENVIRONMENT RETRAIND_BUILD=${CMAKE_BINARY_DIR} TIMEOUT 180)
