"""Errors raised by the agents package."""


class AgentError(Exception):
    """Base class of every error the agents package raises."""


class LLMUnavailable(AgentError):
    """The LLM could not give a usable answer.

    Raised when the server is down or times out, answers with an error status, or
    returns output that is not valid JSON for the requested schema (after the
    client's own retries).
    """


class LLMTransportError(LLMUnavailable):
    """The server could not be reached, timed out or answered with an error status.

    Unlike an unusable answer, this counts against the circuit breaker.
    """
