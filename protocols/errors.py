"""The one exception root of the protocols package, split by who broke the protocol.

Callers (bus workers, simulators) react differently to the two halves: a ``LocalProtocolError``
is a bug or bad configuration on our side and retrying will not help; a ``RemoteProtocolError``
is the peer's (or the line's) fault and is counted, logged on state change and retried.
The naming follows h11, the model for our sans-IO codecs.

Every exception class defined in ``protocols`` derives from ``ProtocolError``
(tests/test_errors.py checks it). Each class lives next to its codec; this tree is the map
(docs/errors.md says what each means to an operator)::

    ProtocolError
    ├── LocalProtocolError (ValueError)     we asked for something the protocol cannot carry
    │   ├── InvalidAddress                  dlt645: not 12 BCD digits (with 'A' wildcards)
    │   ├── EncodeError                     dlt645, gdw1376: too long, out of range
    │   └── UnknownIdentifier (LookupError) dlt645: a DI or quantity not in the catalogue
    ├── RemoteProtocolError                 the peer sent bytes that break the protocol
    │   ├── MalformedFrame                  dlt645: starts like a frame, is not one (.problem,
    │   │   │                               .raw)
    │   │   ├── ChecksumError
    │   │   ├── EndByteError
    │   │   ├── LengthError
    │   │   ├── AddressFieldError
    │   │   └── LoadProfileError            dlt645.load_profile: a reply's records do not
    │   │       │                           split (byte offset in the message)
    │   │       ├── RecordChecksumError
    │   │       ├── RecordEndError
    │   │       └── RecordLengthError
    │   ├── MalformedFrame                  gdw1376: the same for Q/GDW 1376.1 (.problem, .raw):
    │   │   │                               ChecksumError, EndByteError, and
    │   │   ├── LengthFieldError            L fields differ, wrong protocol id, too long
    │   │   └── ShortUserData               too short for the header and its AUX fields
    │   ├── UnexpectedMessage               dlt645: a frame whose data does not fit its code
    │   │                                   (gdw1376: units that do not fit AFN and Fn)
    │   ├── SealBroken                      dlt645.esam_crypto: sealed data whose MAC fails
    │   └── UnsupportedFunction             dlt645: a function code we do not implement
    │                                       (.function)
    ├── CatalogueError                      dlt645: the data-identifier catalogue file is wrong
    └── ModbusProtocolError                 modbus.errors
        ├── RegisterMapError                a register map file is malformed
        ├── UnknownQuantityError            a quantity the map does not define
        ├── RegisterDecodeError             registers that do not fit the plan (our bug)
        └── RegisterEncodeError             a value the register type cannot hold (simulator)
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Root of every error raised by a codec in ``protocols``."""


class LocalProtocolError(ProtocolError, ValueError):
    """We asked a codec to produce something the protocol cannot carry (bad input, our bug)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that break the protocol (noise, a faulty or foreign device)."""
