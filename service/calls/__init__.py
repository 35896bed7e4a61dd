"""Answering a call: /backward and /grad (backward_grad.py), /gradcheck and /gradgradcheck
(gradcheck.py), /functional/* (autograd_functional.py): the session or a fresh workspace,
the request run on it (service/run/), the answer written for the wire (service/wire/)."""
