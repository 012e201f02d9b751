rt_integration_test(it_detection_once detection_once.py TIMEOUT 600)
# The rekognition engine driver in the daemon against the aws-twin (skips without node).
rt_integration_test(it_rekognition_loop rekognition_loop.py TIMEOUT 600)
