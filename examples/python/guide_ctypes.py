# The Python example of the integration guide (section "Python Integration"), as
# written there, run by ci/test-python against target/release/liblightning_db_ffi.so
# copied into the working directory. One line differs: the guide's snippet uses
# `sys.platform` without importing sys, so `import sys` is added.
import ctypes
import os
import sys
from enum import IntEnum

# Load the library
if sys.platform == 'darwin':
    lib = ctypes.CDLL('./liblightning_db_ffi.dylib')
elif sys.platform == 'linux':
    lib = ctypes.CDLL('./liblightning_db_ffi.so')
else:
    lib = ctypes.CDLL('./lightning_db_ffi.dll')

# Define error codes
class LightningDBError(IntEnum):
    Success = 0
    NullPointer = -1
    InvalidUtf8 = -2
    IoError = -3
    # ... etc

# Define result structure
class LightningDBResult(ctypes.Structure):
    _fields_ = [
        ('data', ctypes.POINTER(ctypes.c_uint8)),
        ('len', ctypes.c_size_t)
    ]

# Set up function signatures
lib.lightning_db_create.restype = ctypes.c_void_p
lib.lightning_db_create.argtypes = [ctypes.c_char_p, ctypes.c_void_p]

lib.lightning_db_put.restype = ctypes.c_int
lib.lightning_db_put.argtypes = [
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t,
    ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t
]

# Use the database
db = lib.lightning_db_create(b"./mydb", None)
if not db:
    raise Exception("Failed to create database")

# Store data
key = b"hello"
value = b"world"
err = lib.lightning_db_put(
    db,
    ctypes.cast(key, ctypes.POINTER(ctypes.c_uint8)), len(key),
    ctypes.cast(value, ctypes.POINTER(ctypes.c_uint8)), len(value)
)

if err != LightningDBError.Success:
    raise Exception(f"Put failed: {err}")

# Clean up
lib.lightning_db_free(db)
