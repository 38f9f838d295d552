"""The worksheet PDF: its words (`content`), its layout (`worksheet.html`), its build."""
