rt_unit_test(journal ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_journal.c LIBS rt_journal PkgConfig::SQLITE)
rt_unit_test(journal ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_journal_writer.c LIBS rt_journal PkgConfig::SQLITE PkgConfig::LIBUV)
rt_unit_test(journal ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_journal_alloc.c LIBS rt_journal PkgConfig::SQLITE PkgConfig::LIBUV)
rt_unit_test(journal ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_journal_reviews.c LIBS rt_journal PkgConfig::SQLITE)
