# bench_train: the builtin engine trained on 1,000 generated images (target < 10 s on 2 cores).
if(TARGET rt_engine AND TARGET rt_synth AND TARGET rt_store)
  add_executable(bench_train ${CMAKE_CURRENT_SOURCE_DIR}/bench_train.c)
  target_link_libraries(bench_train PRIVATE rt_engine rt_synth rt_store)
endif()
