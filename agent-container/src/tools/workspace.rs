//! The session's workspace directory and safe paths inside it. (Being built.)
