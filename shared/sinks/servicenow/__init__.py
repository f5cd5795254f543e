"""servicenow"""
