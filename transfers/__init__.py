"""Import and export of the list: a feature of its own, used by the admin (the dashboard's
upload and download, the `subscribers import|export` commands) and by the worker that runs
the jobs. Layer: a feature, beside `admin`, `signup`, `bounces` and `workers`; it imports
`subscribers` (its field checks too), `campaigns` and `models`.

`csvfile` reads an upload with every cap applied; `formats` turns each exporter's columns
into a row; `importer` scans, checks and loads in flat memory, `writes` builds the rows it
inserts; `exporter` writes the CSV; `service` starts a transfer and reads its state (the
web); `jobs` runs it (the worker).
"""
