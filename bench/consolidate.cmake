# bench_consolidate: accuracy of majority vote against the Dawid-Skene consolidation on simulated
# crowds (worker-quality mixes x 2, 3, 5 labels x 3, 5 workers per image), and the time and memory
# to consolidate 100,000 answers.
if(TARGET rt_labeling)
  add_executable(bench_consolidate ${CMAKE_CURRENT_SOURCE_DIR}/bench_consolidate.c)
  target_link_libraries(bench_consolidate PRIVATE rt_labeling rt_core)
endif()
