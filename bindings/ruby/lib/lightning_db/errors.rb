# frozen_string_literal: true

module LightningDB
  # The base of every error Lightning DB raises: `rescue LightningDB::Error`
  # catches them all. {#code} is the error code of the C API
  # (`enum LightningDBError`), the same in every language.
  class Error < StandardError
    # @return [Integer] the C API's error code (negative)
    def code
      self.class::CODE
    end
  end

  # A required pointer or handle was missing (code -1).
  class NullPointer < Error; CODE = -1; end
  # A path or string was not valid UTF-8 (code -2).
  class InvalidUtf8 < Error; CODE = -2; end
  # The operating system reported an error: not found, permission, disk full (code -3).
  class IoError < Error; CODE = -3; end
  # Stored data failed its checksum or is inconsistent; nothing damaged was returned (code -4).
  class CorruptedData < Error; CODE = -4; end
  # A bad argument: empty or oversized key, bad option, a write to a read-only
  # database, a closed database or a finished transaction (code -5).
  class InvalidArgument < Error; CODE = -5; end
  # Memory could not be allocated (code -6).
  class OutOfMemory < Error; CODE = -6; end
  # Another handle or process has the database open for writing (code -7).
  class DatabaseLocked < Error; CODE = -7; end
  # A key the transaction wrote was changed by a commit after it began; nothing
  # of the transaction was written (code -8).
  class TransactionConflict < Error; CODE = -8; end
  # Anything else, including a bug caught at the library's boundary (code -99).
  class UnknownError < Error; CODE = -99; end

  # Error classes by C error code.
  ERRORS_BY_CODE = [NullPointer, InvalidUtf8, IoError, CorruptedData, InvalidArgument, OutOfMemory,
                    DatabaseLocked, TransactionConflict, UnknownError].to_h { |k| [k::CODE, k] }.freeze

  # Error classes by the name of the UDL's variant of `LightningDbError` (what the
  # UniFFI-generated module raises, and what the conformance scenarios name).
  ERRORS_BY_VARIANT = {
    'NullPointer' => NullPointer, 'InvalidUtf8' => InvalidUtf8, 'IoError' => IoError,
    'CorruptedData' => CorruptedData, 'InvalidArgument' => InvalidArgument,
    'OutOfMemory' => OutOfMemory, 'DatabaseLocked' => DatabaseLocked,
    'TransactionConflict' => TransactionConflict, 'Unknown' => UnknownError
  }.freeze
end
