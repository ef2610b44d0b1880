"""The Python SDK: one client API over a remote server or an in-process local one."""
