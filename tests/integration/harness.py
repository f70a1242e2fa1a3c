"""placeholder, replaced by the integration test harness"""
