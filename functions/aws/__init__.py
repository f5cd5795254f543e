"""The AWS side: the Lambda entry point and the adapters that need boto3."""
