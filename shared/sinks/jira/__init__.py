"""jira"""
