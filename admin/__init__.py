"""The operator's side: dashboard, email previews, import and export, subscriber care."""
