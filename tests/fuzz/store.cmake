# Fuzz target of the store key rules. The seed corpus is written into the build tree at configure
# time (a few valid keys, hostile keys and training-rule cases), so no corpus files are kept here.
set(rt_store_seeds ${CMAKE_BINARY_DIR}/fuzz-seeds/store_key)
file(MAKE_DIRECTORY ${rt_store_seeds})
set(rt_store_seed_list
  "images_labeled_by_folder/cat/1.png" "images_labeled_by_folder/cat/" "a/../b" "/etc/passwd"
  "a//b" "a\\\\b" "L/\nL/dog/x.JPEG" "images_labeled_by_folder/cat/sub/1.jpg" "a/./b/.png"
  "x/\t/y" "images_labeled_by_folder/d/.png")
set(i 0)
foreach(seed IN LISTS rt_store_seed_list)
  file(WRITE ${rt_store_seeds}/seed-${i} "${seed}")
  math(EXPR i "${i} + 1")
endforeach()
# Only the core files it needs, so a half-written core file elsewhere cannot break it.
set(rt_store_fuzz_core ${CMAKE_SOURCE_DIR}/src/core/error.c ${CMAKE_SOURCE_DIR}/src/core/buf.c
  ${CMAKE_SOURCE_DIR}/src/core/alloc.c)
add_test(NAME fuzz_store_key COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh store_key 10
  ${rt_store_seeds} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_store_key.c
  ${CMAKE_SOURCE_DIR}/src/store/store.c ${rt_store_fuzz_core})
set_tests_properties(fuzz_store_key PROPERTIES LABELS fuzz
  ENVIRONMENT RETRAIND_BUILD=${CMAKE_BINARY_DIR} TIMEOUT 180)
