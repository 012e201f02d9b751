# labeling: consolidation of several workers' answers (Dawid-Skene EM) against majority vote.
rt_unit_test(labeling ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_consolidate.c LIBS rt_labeling)
rt_unit_test(labeling ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_label_report.c LIBS rt_labeling rt_journal)
rt_unit_test(labeling ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_label_collect.c LIBS rt_workflow rt_labeling rt_journal)
rt_unit_test(notify ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_event_label_job.c LIBS rt_notify)
