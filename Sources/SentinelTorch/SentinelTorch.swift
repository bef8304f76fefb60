// PyTorch checkpoint support lives here (issue 3).
