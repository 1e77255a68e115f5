//! GS1 Tag Data Standard binary encodings of the EPC memory bank.
