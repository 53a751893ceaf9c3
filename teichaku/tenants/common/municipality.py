"""全国地方公共団体コード (national local government codes): 5 digits and a check digit.

No code list can be downloaded here, so codes are validated by their check digit: weights
6, 5, 4, 3, 2 on the first five digits, r = sum % 11, check = (11 - r) % 10.
"""
from __future__ import annotations

from marshmallow import ValidationError, validate

_WEIGHTS = (6, 5, 4, 3, 2)


def check_digit(first_five: str) -> int:
    total = sum(int(d) * w for d, w in zip(first_five, _WEIGHTS))
    return (11 - total % 11) % 10


def is_valid_municipality_code(code: str) -> bool:
    return (
        isinstance(code, str) and len(code) == 6 and code.isascii() and code.isdigit()
        and check_digit(code[:5]) == int(code[5])
    )


class MunicipalityCode(validate.Validator):
    """marshmallow validator with a Japanese message."""

    error = "全国地方公共団体コード（6桁、検査数字付き）が正しくありません。"

    def __call__(self, value: str) -> str:
        if not is_valid_municipality_code(value):
            raise ValidationError(self.error)
        return value
