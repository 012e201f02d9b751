rt_unit_test(review ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_review_local.c LIBS rt_review)
