"""Task folders and PEFT adapters as zip archives: moved to `pets.server.taskzip` (the HTTP
server's POST /v1/tasks takes the same zips); re-exported here for the dashboard."""
from pets.server.taskzip import (MAX_MEMBERS, MAX_UNZIPPED, PEFT_FILE, ZIP_ERRORS,  # noqa: F401
                                 export_zip, import_zip)
