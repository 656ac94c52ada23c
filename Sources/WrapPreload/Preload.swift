@_exported import WrapABI
